// Which mails to look at next, without scanning the queue: mails that may be due now (new, flushed,
// released, just attempted) and a min-heap of the next retry time of every other mail. A backlog of
// deferred mail then costs nothing per new mail or per wake-up, only when its retry time comes.

export class DueIndex {
  /** Mails that may have recipients due now, in arrival order. */
  private readonly ready = new Set<string>();
  private readonly heap: { at: number; id: string }[] = [];
  /** The earliest time each mail is in the heap for; a heap entry with another time is stale. */
  private readonly scheduled = new Map<string, number>();

  /** The mail may be due now. */
  wake(id: string): void {
    this.ready.add(id);
  }

  /** The mail's next attempt is at `at` (ms since the epoch). */
  later(id: string, at: number): void {
    const current = this.scheduled.get(id);
    if (current !== undefined && current <= at) return;
    this.scheduled.set(id, at);
    this.push({ at, id });
  }

  /** Mails to look at now, oldest wake-up first: each is taken out of the index. */
  *take(now: number): Iterable<string> {
    while (this.heap.length && this.heap[0].at <= now) {
      const top = this.pop()!;
      if (this.scheduled.get(top.id) !== top.at) continue;
      this.scheduled.delete(top.id);
      this.ready.add(top.id);
    }
    for (const id of this.ready) {
      this.ready.delete(id);
      yield id;
    }
  }

  /** When the next mail in the heap comes due; Infinity when none. */
  nextAt(): number {
    while (this.heap.length && this.scheduled.get(this.heap[0].id) !== this.heap[0].at) this.pop();
    return this.heap.length ? this.heap[0].at : Infinity;
  }

  get size(): number {
    return this.ready.size + this.scheduled.size;
  }

  private push(e: { at: number; id: string }): void {
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (h[p].at <= h[i].at) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): { at: number; id: string } | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].at < h[m].at) m = l;
        if (r < h.length && h[r].at < h[m].at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
