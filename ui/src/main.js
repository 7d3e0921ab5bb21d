// The Quiver console: one page app over the JSON API, routed by the URL's hash
// (#/models/iris/traffic) so the server serves one index.html.
import { html } from "htm/preact";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

import "./style.css";
import { api, onSignedOut, setToken, token } from "./api.js";
import { ConfirmHost } from "./confirm.js";
import { ModelsPage } from "./pages/models.js";
import { ModelPage } from "./pages/model.js";

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function SignIn({ onDone, message }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState(message || null);
  const submit = async (e) => {
    e.preventDefault();
    setToken(value.trim());
    try {
      await api("GET", "/v1/models");
      onDone();
    } catch (err) {
      setToken("");
      setError(err.message);
    }
  };
  return html`
    <form class="signin card" onSubmit=${submit} data-testid="signin">
      <h2>Sign in</h2>
      <p>This server runs with authentication. Paste a token (<code>quiver token create</code>, or
        <code>admin.token</code> in the data directory). It is kept for this tab only.</p>
      <input type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.target.value)}
        placeholder="qv_…" data-testid="token" />
      <button class="primary" type="submit">Sign in</button>
      ${error && html`<p class="error">${error}</p>`}
    </form>`;
}

function App() {
  const hash = useHash();
  const [auth, setAuth] = useState("checking"); // checking | open | signed-in | needed
  const check = async () => {
    try {
      await api("GET", "/v1/models");
      setAuth(token() ? "signed-in" : "open");
    } catch (err) {
      setAuth(err.status === 401 ? "needed" : token() ? "signed-in" : "open");
    }
  };
  useEffect(() => {
    check();
    return onSignedOut(() => setAuth("needed"));
  }, []);
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  let page;
  if (auth === "checking") page = html`<p class="muted">Connecting…</p>`;
  else if (auth === "needed") page = html`<${SignIn} onDone=${check} />`;
  else if (parts[0] === "models" && parts[1]) page = html`<${ModelPage} model=${parts[1]} tab=${parts[2] || "versions"} extra=${parts.slice(3)} />`;
  else page = html`<${ModelsPage} />`;
  const signOut = () => {
    setToken("");
    setAuth("needed");
  };
  return html`
    <header class="top">
      <a class="brand" href="#/">Quiver</a>
      <nav><a href="#/">Models</a></nav>
      <span class="spacer"></span>
      ${auth === "signed-in" && html`<span class="muted">signed in</span>
        <button class="link" onClick=${signOut}>Sign out</button>`}
      ${auth === "open" && html`<span class="muted" title="The server runs without --auth">auth off</span>`}
    </header>
    <main>${page}</main>
    <${ConfirmHost} />`;
}

const root = document.getElementById("app");
root.textContent = ""; // the "Loading" line shown before the script ran
render(html`<${App} />`, root);
