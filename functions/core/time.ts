/**
 * Fenix times are UTC strings `YYYY-MM-DD HH:MM:SS`. We accept that form and ISO 8601 with `T` and a
 * `Z` (or numeric offset) on input, store ISO 8601 (sortable, what Step Functions' Wait wants), and
 * answer in the Fenix form.
 */
const FENIX_FORM = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/;

/** Parses a Fenix or ISO time; undefined when the text is not a real UTC time. */
export const parseFenixTime = (text: string): Date | undefined => {
  const match = FENIX_FORM.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  // A space-separated time without zone is UTC by contract; an explicit offset is honoured.
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction?.slice(0, 4) ?? ''}${zone ?? 'Z'}`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return undefined;
  // Reject rollovers such as 2026-02-31 that Date silently normalises.
  if (!zone || zone === 'Z') {
    const back = date.toISOString();
    if (back.slice(0, 19) !== `${y}-${mo}-${d}T${h}:${mi}:${s}`) return undefined;
  }
  return date;
};

export const toFenixTime = (date: Date | string): string =>
  (typeof date === 'string' ? new Date(date) : date).toISOString().slice(0, 19).replace('T', ' ');

/** ISO 8601 without milliseconds: what we store and what an ASL Wait `TimestampPath` accepts. */
export const toIsoSeconds = (date: Date): string => `${date.toISOString().slice(0, 19)}Z`;

export const addSeconds = (date: Date, seconds: number): Date => new Date(date.getTime() + seconds * 1000);
