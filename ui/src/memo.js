// memo: a component that renders again only when its props changed (shallow
// comparison, or `same(previous, next)`), so a page refreshed every few seconds only
// touches the rows whose shown values moved. preact/compat has one too; this one keeps
// compat out of the bundle.
import { Component, h } from "preact";

export function shallowEqual(a, b) {
  for (const k in a) if (a[k] !== b[k]) return false;
  for (const k in b) if (!(k in a)) return false;
  return true;
}

export function memo(render, same = shallowEqual) {
  class Memo extends Component {
    shouldComponentUpdate(next) {
      return !same(this.props, next);
    }
    render(props) {
      return h(render, props);
    }
  }
  Memo.displayName = "Memo(" + (render.displayName || render.name || "") + ")";
  return Memo;
}
