// The console's only way to the server: the JSON API, with the signed-in token (if
// any) as a Bearer header. The token lives in sessionStorage: it is gone when the tab
// closes and is never written anywhere else.
const TOKEN_KEY = "quiver.token";
const signedOutListeners = new Set();

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Called when the server answers 401: the page asks for a token.
export function onSignedOut(listener) {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// `reason` goes to the audit log as the CLI's --reason does.
export async function api(method, path, body, reason) {
  const headers = { Accept: "application/json", "x-quiver-client": "console" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (reason) headers["x-quiver-reason"] = reason.replace(/[\r\n]+/g, " ");
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) signedOutListeners.forEach((f) => f());
    let message = (data && data.error) || text || response.statusText;
    if (response.status === 403) message = "Not allowed for this token's role: " + message;
    throw new ApiError(response.status, message);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const enc = encodeURIComponent;
