/**
 * `processes`: the cap on simultaneous retriever connections (CommuniGate Remote Poll). Clients
 * beyond it wait in arrival order, so none is starved while others poll again and again.
 */
export class ProcessSlots {
  private inUse = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Resolves with a release function once a slot is free; FIFO among waiters. */
  async acquire(): Promise<() => void> {
    if (this.inUse < this.size && this.queue.length === 0) {
      this.inUse++;
    } else {
      // The releasing holder hands its slot straight to the first waiter (inUse unchanged).
      await new Promise<void>((resolve) => this.queue.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.inUse--;
    };
  }

  get busy(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.queue.length;
  }
}
