// Every action goes through one confirmation dialog that states what will change
// before anything is sent, takes an optional reason for the audit log, and shows the
// server's answer (a 403 for a role that may not act stays in the dialog).
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";

let show = null;

// action: {title, changes: [string], confirm: "Set weights", run: async (reason) => any, done?: () => void}
export function confirmAction(action) {
  if (show) show(action);
}

export function ConfirmHost() {
  const [action, setAction] = useState(null);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    show = (a) => {
      setAction(a);
      setReason("");
      setError(null);
      setBusy(false);
    };
    // Leaving the page abandons the action.
    const leave = () => setAction(null);
    addEventListener("hashchange", leave);
    return () => {
      show = null;
      removeEventListener("hashchange", leave);
    };
  }, []);
  if (!action) return null;
  const close = () => setAction(null);
  const go = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action.run(reason.trim());
      close();
      if (action.done) action.done();
    } catch (err) {
      setError(err.message || String(err));
      setBusy(false);
    }
  };
  return html`
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="confirm-title" data-testid="confirm">
      <form class="dialog" onSubmit=${go}>
        <h2 id="confirm-title">${action.title}</h2>
        <p>This will change:</p>
        <ul class="changes" data-testid="confirm-changes">
          ${action.changes.map((c) => html`<li>${c}</li>`)}
        </ul>
        <label>Reason (recorded in the audit log)
          <input value=${reason} onInput=${(e) => setReason(e.target.value)} placeholder="optional" /></label>
        ${error && html`<p class="error" data-testid="confirm-error">${error}</p>`}
        <div class="buttons">
          <button type="button" onClick=${close} disabled=${busy}>Cancel</button>
          <button type="submit" class="primary" disabled=${busy} data-testid="confirm-ok">
            ${busy ? "Working…" : action.confirm || "Confirm"}</button>
        </div>
      </form>
    </div>`;
}
