// Calls to the platform's public REST API through the console's pass-through
// (/console/api/v1/... -> the entry's /v1/...), with the signed-in user's
// bearer token. Every answer is normalised to {ok, status, data, error} where
// error follows google.rpc.Status and lists the BadRequest field violations.

let TOKEN_KEY = "affinity.token";

// useTokenKey keeps a page's token apart from the console's: the storefront
// demo signs in as a customer, the console as a marketer.
export function useTokenKey(k) { TOKEN_KEY = k; }

// The base of the REST API. A real storefront would use its own API origin;
// the console's pass-through serves the same paths.
export const API_BASE = "/console/api";

export function getToken() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(t) { sessionStorage.setItem(TOKEN_KEY, t.trim()); }
export function clearToken() { sessionStorage.removeItem(TOKEN_KEY); }

// claims decodes the JWT payload for display only; the services verify it.
export function claims(token = getToken()) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// newKey returns an idempotency key; one per user action, so a retry of the
// same action (double click, network retry) changes nothing twice.
export function newKey() {
  return crypto.randomUUID();
}

export async function call(method, path, body) {
  const headers = { "Accept": "application/json" };
  const token = getToken();
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(API_BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { ok: false, status: 0, data: null, error: { code: 14, message: "The console did not answer: " + e.message, violations: [] } };
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text }; }
  }
  if (res.ok) return { ok: true, status: res.status, data: data || {}, error: null };
  return { ok: false, status: res.status, data: null, error: toError(res.status, data) };
}

function toError(status, data) {
  const err = { code: data && data.code, message: (data && data.message) || ("HTTP " + status), violations: [] };
  for (const d of (data && data.details) || []) {
    if (String(d["@type"] || "").endsWith("google.rpc.BadRequest")) {
      for (const v of d.fieldViolations || []) err.violations.push({ field: v.field || "", description: v.description || "" });
    }
  }
  return err;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body || {});
export const patch = (path, body) => call("PATCH", path, body || {});
export const del = (path) => call("DELETE", path);
