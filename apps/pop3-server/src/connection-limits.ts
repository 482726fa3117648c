/** Caps on simultaneous connections, in total and per client IP address. */
export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerIp: number,
  ) {}

  /** Counts the connection in, or says which limit it hits. */
  tryAcquire(ip: string): 'ok' | 'total' | 'per-ip' {
    if (this.total >= this.maxTotal) return 'total';
    const current = this.perIp.get(ip) ?? 0;
    if (current >= this.maxPerIp) return 'per-ip';
    this.total++;
    this.perIp.set(ip, current + 1);
    return 'ok';
  }

  release(ip: string): void {
    const current = this.perIp.get(ip) ?? 0;
    if (current <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, current - 1);
    this.total = Math.max(0, this.total - 1);
  }

  get open(): number {
    return this.total;
  }
}
