// usePoll: loads data now and again every `ms` while the page shows it.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export function usePoll(load, ms, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const alive = useRef(true);
  const refresh = useCallback(async () => {
    try {
      const data = await load();
      if (alive.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (alive.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    alive.current = true;
    refresh();
    const timer = ms > 0 ? setInterval(refresh, ms) : null;
    return () => {
      alive.current = false;
      if (timer) clearInterval(timer);
    };
  }, [refresh, ms]);
  return { ...state, refresh };
}
