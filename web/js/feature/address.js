// The buyer's email and shipping address for a card checkout: checked here before anything is
// reserved (the server checks the same things and has the last word), remembered in this
// browser for the next purchase, and a server refusal (`invalid_email`, `invalid_shipping` with
// a detail naming `shipping.city`) traced back to its field. Pure: no DOM, storage passed in.

/** The form's fields: the body's `email` and the `shipping` object's fields, in form order. */
export const FIELDS = ['email', 'name', 'line1', 'line2', 'city', 'postal_code', 'state', 'country'];

/** What each field is called in an error message. */
const LABELS = {
  email: 'email', name: 'full name', line1: 'address', line2: 'apartment or suite', city: 'city',
  postal_code: 'postal code', state: 'state or region', country: 'country',
};

const REQUIRED = new Set(['email', 'name', 'line1', 'city', 'postal_code', 'country']);
/** The server's bounds (server/src/domain/commerce/buyer.rs). */
const MAX = { email: 254, postal_code: 20 };
const MAX_FIELD = 200;
const EMAIL = /^[^\s@"<>,;:()[\]\\]{1,64}@[\p{L}\p{N}-]+(\.[\p{L}\p{N}-]+)+$/u;
// Controls and the bidi overrides a one-line field never needs.
const FORBIDDEN = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * The details from the form's raw `values` ({email, name, line1, …}): `{ok: true, body}` with the
 * checkout's body (`{email, shipping}`, trimmed, empty optional fields left out, the country
 * upper-cased), or `{ok: false, errors}` with a message per field in form order.
 */
export function checkDetails(values) {
  const errors = {};
  const v = {};
  for (const f of FIELDS) {
    const text = String(values[f] ?? '').trim();
    v[f] = text;
    const label = LABELS[f];
    if (!text) {
      if (REQUIRED.has(f)) errors[f] = `Enter your ${label}.`;
      continue;
    }
    const max = MAX[f] || MAX_FIELD;
    if ([...text].length > max) errors[f] = `Your ${label} is too long (${max} characters at most).`;
    else if (FORBIDDEN.test(text)) errors[f] = `Your ${label} has characters that are not allowed.`;
  }
  if (v.email && !errors.email && !EMAIL.test(v.email)) {
    errors.email = 'Enter an email address like name@example.com.';
  }
  v.country = v.country.toUpperCase();
  if (v.country && !errors.country && !/^[A-Z]{2}$/.test(v.country)) {
    errors.country = 'Enter the two-letter country code, such as US or DE.';
  }
  if (Object.keys(errors).length) return { ok: false, errors };
  const shipping = { name: v.name, line1: v.line1, city: v.city, postal_code: v.postal_code, country: v.country };
  if (v.line2) shipping.line2 = v.line2;
  if (v.state) shipping.state = v.state;
  return { ok: true, body: { email: v.email, shipping } };
}

/**
 * The field a server refusal is about: `email` for `invalid_email`, the field a
 * `invalid_shipping` detail names (`shipping.postal_code …`), else null.
 */
export function fieldOfProblem(code, detail = '') {
  if (code === 'invalid_email') return 'email';
  if (code !== 'invalid_shipping') return null;
  const m = /\bshipping\.([a-z_0-9]+)/.exec(String(detail));
  return m && FIELDS.includes(m[1]) ? m[1] : null;
}

const KEY = 'checkout-details';

/** Keeps a checkout's body (`{email, shipping}`) in `storage` (`{set(key, text)}`) for next time. */
export function rememberDetails(storage, body) {
  storage.set(KEY, JSON.stringify({ email: body.email, ...body.shipping }));
}

/** The remembered form values ({email, name, …}, strings only), or {} when nothing is kept. */
export function recallDetails(storage) {
  let kept;
  try {
    kept = JSON.parse(storage.get(KEY) || '{}');
  } catch {
    return {};
  }
  const values = {};
  if (!kept || typeof kept !== 'object') return values;
  for (const f of FIELDS) {
    if (typeof kept[f] === 'string') values[f] = kept[f];
  }
  return values;
}

/** "Visa •••• 4242" for a saved card `{brand, last4}`. */
export function cardName(card) {
  const brands = {
    visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', discover: 'Discover',
    diners: 'Diners Club', jcb: 'JCB', unionpay: 'UnionPay',
  };
  const brand = brands[card.brand] || (card.brand ? String(card.brand) : 'Card');
  return `${brand} •••• ${card.last4 || '????'}`;
}
