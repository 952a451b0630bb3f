// The moderator desk's commands: each `mod.*` command goes over HTTP
// (`POST /api/shows/{id}/moderation`, the same JSON as the room's frames), so its answer belongs
// to the control that sent it, and a refusal comes back in words (errors.js) to be shown right
// next to that control.

import { api, ApiError } from '../api.js';
import { busy } from '../dom.js';
import { moderationWords } from './errors.js';

export class CommandError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/**
 * `command(body)` for the show: resolves on success, throws a CommandError in words otherwise;
 * `onInvalid()` runs when the server no longer accepts the token (401).
 */
export function moderationCommands({ showId, token, onInvalid }) {
  return async function command(body) {
    try {
      return await api('POST', `/api/shows/${showId}/moderation`, { token, body });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.status === 401) {
        onInvalid();
        throw new CommandError('Your invite is no longer valid.', e.code);
      }
      const detail = (e.problem && e.problem.detail) || '';
      const words = moderationWords(e.code, detail);
      throw new CommandError(words !== undefined ? words : e.message, e.code);
    }
  };
}

/** Empties and hides an error line. */
export function clearError(where) {
  if (!where) return;
  where.hidden = true;
  where.replaceChildren();
}

/** Runs `fn` for `control` (disabled meanwhile); a failure is shown in `where`. true on success. */
export async function act(control, where, fn) {
  clearError(where);
  const ok = await busy(control, async () => { await fn(); return true; }, where);
  return ok === true;
}
