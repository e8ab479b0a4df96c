// smtpd.conf's units: delays (`4d`, as delaytonum reads them) and sizes (`35M`, as scan_scaled(3) does).

/** `30s`, `10m`, `4h`, `4d` → seconds; undefined when not a delay. */
export function delaySeconds(text: string): number | undefined {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m || Number(m[1]) < 1) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** `35M`, `512K`, `1.5G`, `1048576` → bytes (powers of 1024, as scan_scaled); undefined when not a size. */
export function sizeBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([BKMGTPE]?)$/i.exec(text);
  if (!m) return undefined;
  const power = 'BKMGTPE'.indexOf((m[2] || 'B').toUpperCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}
