// Watches the config file and every file it refers to, the way Kubernetes updates mounted ConfigMaps and
// Secrets: an atomic swap of a `..data` symlink in the directory, so the directories are watched, not
// the files. Events are debounced and a change is reported only when a file's content really changed.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';

export class FileWatcher {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private fingerprint = '';
  private files: string[] = [];
  private readonly onChange: (changed: string[]) => void;
  private readonly debounceMs: number;

  constructor(onChange: (changed: string[]) => void, debounceMs = 300) {
    this.onChange = onChange;
    this.debounceMs = debounceMs;
  }

  /** Per-file content hashes, joined; a missing file has a hash of its own. */
  static async fingerprintOf(files: string[]): Promise<string> {
    const parts: string[] = [];
    for (const f of files) {
      const h = createHash('sha256');
      h.update(await readFile(f).catch(() => Buffer.from('\0missing')));
      parts.push(`${f}\0${h.digest('hex')}`);
    }
    return parts.join('\n');
  }

  /** The files whose content differs between two fingerprints (for the reload's log line). */
  static changedFiles(before: string, after: string): string[] {
    const old = new Set(before.split('\n'));
    return after.split('\n').filter((p) => p && !old.has(p)).map((p) => p.slice(0, p.indexOf('\0')));
  }

  /** (Re)targets the watch; `files` is what the config now refers to, config file first. */
  async watch(files: string[]): Promise<void> {
    const first = this.files.length === 0;
    this.close();
    this.files = files;
    // On a re-target (after a reload) the fingerprint stays the one the reload was started for, and the
    // files are checked again: a change written while the reload was reading them is not lost.
    if (first) this.fingerprint = await FileWatcher.fingerprintOf(files);
    else this.poke();
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.poke());
        w.on('error', () => {});
        this.watchers.push(w);
      } catch {
        // a directory that does not exist (yet) cannot be watched; SIGHUP still reloads
      }
    }
  }

  private poke(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      const fp = await FileWatcher.fingerprintOf(this.files);
      if (fp !== this.fingerprint) {
        const changed = FileWatcher.changedFiles(this.fingerprint, fp);
        this.fingerprint = fp;
        this.onChange(changed);
      }
    }, this.debounceMs);
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
