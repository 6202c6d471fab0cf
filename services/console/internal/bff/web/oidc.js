// OpenID Connect sign-in: the authorization code flow with PKCE (RFC 7636)
// for a public client. The browser goes to the provider; the provider sends
// it back to /console/ with a code; the console's /console/auth/token
// exchanges the code (with the verifier only this tab knows) for the access
// token, which is then used exactly like a pasted token.
import { h } from "./ui.js";

const PENDING = "affinity.oidc.pending";

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(n) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

// oidcConfig asks the console whether OIDC sign-in is configured.
export async function oidcConfig() {
  try {
    const res = await fetch("/console/auth/config", { headers: { Accept: "application/json" } });
    if (!res.ok) return { error: "The sign-in provider is configured but did not answer (" + res.status + ")." };
    return (await res.json()).oidc || null;
  } catch (e) {
    return null;
  }
}

// startSignIn sends the browser to the provider.
export async function startSignIn(cfg) {
  const verifier = random(48); // 64 characters
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash || "#/overview" }));
  const q = new URLSearchParams({
    response_type: "code", client_id: cfg.clientId, redirect_uri: location.origin + "/console/",
    scope: cfg.scopes || "openid", state, code_challenge: challenge, code_challenge_method: "S256",
  });
  if (cfg.audience) q.set("audience", cfg.audience);
  location.assign(cfg.authorizationEndpoint + (cfg.authorizationEndpoint.includes("?") ? "&" : "?") + q);
}

// finishSignIn completes a redirect from the provider, if this page load is
// one. It returns null when there is nothing to finish, else {token} or
// {error}.
export async function finishSignIn() {
  const q = new URLSearchParams(location.search);
  if (!q.has("code") && !q.has("error")) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", "/console/" + ((pending && pending.hash) || "#/overview"));
  if (q.has("error")) return { error: "The provider refused the sign-in: " + q.get("error") + (q.get("error_description") ? " (" + q.get("error_description") + ")" : "") };
  // A code without this tab's state was not asked for here: never use it.
  if (!pending || q.get("state") !== pending.state) return { error: "The sign-in answer does not match a sign-in started in this tab; start again." };
  const res = await fetch("/console/auth/token", {
    method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ code: q.get("code"), codeVerifier: pending.verifier, redirectUri: location.origin + "/console/" }),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok || !data.accessToken) return { error: "Sign-in failed: " + (data.message || res.status) };
  return { token: data.accessToken };
}

// oidcButton is the "Sign in with …" part of the sign-in page.
export function oidcButton(cfg) {
  let host = cfg.issuer || cfg.authorizationEndpoint;
  try { host = new URL(host).host; } catch { /* keep as given */ }
  const btn = h("button", { type: "button", id: "oidc-signin" }, "Sign in with " + host);
  btn.addEventListener("click", () => { btn.disabled = true; btn.textContent = "Redirecting to " + host + "…"; startSignIn(cfg); });
  return h("section", { class: "oidc", "aria-labelledby": "oidc-h" }, h("h2", { id: "oidc-h" }, "Single sign-on"), btn,
    h("p", { class: "muted" }, "Or paste a token below."));
}
