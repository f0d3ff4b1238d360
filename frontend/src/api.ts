/** Notify Plus's own endpoints (UrlsMixin, under /plugin/notify-plus/) and InvenTree's settings API. */
import { useCallback, useEffect, useState } from 'react';
import type { InvenTreePluginContext } from './inventree';

export const SLUG = 'notify-plus';
export const BASE = `/plugin/${SLUG}/`;
export const USER_SETTINGS = `/api/plugins/${SLUG}/user-settings/`;
export const SETTINGS = `/api/plugins/${SLUG}/settings/`;

/** The words of an error answer: our endpoints say {"error"}, DRF says {"detail"} or {field: [...]}. */
export function errorText(error: any): string {
  const data = error?.response?.data;
  if (!data) return String(error?.message ?? error);
  if (typeof data === 'string') return data;
  if (data.error) return String(data.error);
  if (data.detail) return String(data.detail);
  return Object.values(data)
    .flat()
    .map((v) => String(v))
    .join(' ');
}

/** GET an endpoint into state; `reload` fetches again. */
export function useApi<T>(context: InvenTreePluginContext, url: string | null) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    if (!url) return;
    let live = true;
    void tick;
    context.api
      .get(url)
      .then((response) => {
        if (!live) return;
        setData(response.data as T);
        setError(null);
      })
      .catch((err) => live && setError(errorText(err)));
    return () => {
      live = false;
    };
  }, [context.api, url, tick]);
  return { data, error, reload };
}
