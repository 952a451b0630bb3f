// The public HTTP API, as any third-party client would call it: JSON in and out, errors as
// problem+json turned into an ApiError whose `message` is fit to show a person.

import { apiWords } from './feature/errors.js';

/** An API answer that was not a success, or a request that never got an answer. */
export class ApiError extends Error {
  constructor(status, code, message, problem = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // 0 when the network failed
    this.code = code; // the problem's stable `code`, e.g. "sold_out"
    this.problem = problem;
    this.retryAfter = problem.retry_after_s ?? null;
  }
}

/**
 * Calls the API. `body` is sent as JSON unless `contentType` says otherwise. Resolves with the
 * parsed JSON (or text for non-JSON answers, null for 204); rejects with ApiError.
 */
export async function api(method, path, { token, body, contentType, headers = {}, signal } = {}) {
  const h = { Accept: 'application/json, application/problem+json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    if (contentType && contentType !== 'application/json') {
      h['Content-Type'] = contentType;
      payload = body;
    } else {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', apiWords('network'));
  }
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  const text = await res.text();
  if (!res.ok) {
    let problem = {};
    if (type.includes('json')) {
      try { problem = JSON.parse(text); } catch { /* not JSON after all */ }
    }
    const code = problem.code || `http_${res.status}`;
    const retry = res.headers.get('retry-after');
    if (retry && problem.retry_after_s === undefined) problem.retry_after_s = Number(retry);
    const message = apiWords(code) || problem.detail || problem.title || `The request failed (${res.status}).`;
    throw new ApiError(res.status, code, message, problem);
  }
  if (type.includes('json')) return text ? JSON.parse(text) : null;
  return text;
}

/**
 * Whether a failed request was settled by the server, so a retry with the same
 * `Idempotency-Key` would only replay its answer and a new attempt needs a new key: any 4xx,
 * and a 503 `payment_unavailable`, whose order the server already released. A network failure
 * or another 5xx keeps the key, so a retry can never buy twice.
 */
export function settledFailure(e) {
  return (e.status >= 400 && e.status < 500) || e.code === 'payment_unavailable';
}

/** Every item of a paginated listing (`GET /api/shows`, `GET /api/products`): follows
 * `next_cursor` page by page, at the largest page size. */
export async function listAll(path, { token, signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: '200' });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `${path}?${q}`, { token, signal });
    items.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// ---- tokens ---------------------------------------------------------------------------------

/**
 * The token a link carried in its fragment (`#token=…`), which browsers never send to servers.
 * It is kept in localStorage under `key` and removed from the address bar; later visits read it
 * from storage.
 */
export function tokenFromLink(key) {
  const frag = new URLSearchParams(location.hash.slice(1));
  const fromLink = frag.get('token');
  if (fromLink) {
    store.set(key, fromLink);
    frag.delete('token');
    const rest = frag.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
    return fromLink;
  }
  return store.get(key);
}

/** localStorage that survives private modes where it throws. */
export const store = {
  get(key) {
    try { return localStorage.getItem(`livesale:${key}`); } catch { return null; }
  },
  set(key, value) {
    try {
      if (value === null || value === undefined) localStorage.removeItem(`livesale:${key}`);
      else localStorage.setItem(`livesale:${key}`, value);
    } catch { /* storage unavailable: the page still works for this visit */ }
  },
  json(key) {
    const raw = store.get(key);
    if (!raw) return null;
    try { return JSON.parse(raw); } catch { return null; }
  },
};

/**
 * This browser's stable id, created once and kept in localStorage (not per show), sent when
 * joining a show: a guest who joins again from the same browser keeps their viewer identity,
 * so bans and per-buyer limits follow them. Kept as secret as a token.
 */
export function deviceId() {
  let id = store.get('device');
  if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
    id = newKey();
    store.set('device', id);
  }
  return id;
}

/** The payload of a JWT (no verification: only to read expiry and ids for display). */
export function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

// ---- money ----------------------------------------------------------------------------------

const minorDigits = new Map();
function digitsOf(currency) {
  if (!minorDigits.has(currency)) {
    let d = 2;
    try {
      d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
    } catch { /* unknown to this browser: assume cents */ }
    minorDigits.set(currency, d);
  }
  return minorDigits.get(currency);
}

/** `{"amount":1999,"currency":"USD"}` → "$19.99" in the page's language. */
export function formatMoney(money, locale = document.documentElement.lang || undefined) {
  if (!money) return '';
  const d = digitsOf(money.currency);
  const value = money.amount / 10 ** d;
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency: money.currency }).format(value);
  } catch {
    return `${value.toFixed(d)} ${money.currency}`;
  }
}

/** A price typed by a person ("12.50") → minor units of `currency`, or null. */
export function parseMoney(text, currency) {
  const t = String(text).trim().replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(t)) return null;
  const d = digitsOf(currency);
  const [whole, frac = ''] = t.split('.');
  if (frac.length > d) return null;
  return Number(whole) * 10 ** d + Number((frac + '0'.repeat(d)).slice(0, d) || 0);
}

/** A fresh idempotency key for a checkout attempt. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
