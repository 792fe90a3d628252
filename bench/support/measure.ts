// The two load generators of the speed bench: a fixed-concurrency loop in this
// process, and autocannon over HTTP. Both report the same figures.
import autocannon from "autocannon";

/** What one measured cell reports. */
export interface Figures {
  /** Successful requests (2xx, or `true` from the task) per second. */
  readonly perSecond: number;
  /** Median latency of the successful requests, in milliseconds. */
  readonly p50: number;
  /** 99th percentile latency of the successful requests, in milliseconds. */
  readonly p99: number;
  /** How many requests succeeded. */
  readonly count: number;
  /** Requests that failed (another status, a transport error, `false` from the task). */
  readonly failures: number;
  /**
   * In process only: CPU time of this process (all its threads) per
   * successful request, in microseconds. Unlike req/s it barely moves when
   * other processes share the cores.
   */
  readonly cpuMicros?: number;
}

/** The value at quantile `q` (0-1) of `sorted` (ascending), nearest rank. */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Latency samples in milliseconds, grown as needed, sorted once at the end. */
interface Samples {
  add(value: number): void;
  figures(elapsedMs: number, failures: number): Figures;
}

function newSamples(): Samples {
  let values = new Float64Array(1 << 14);
  let length = 0;
  return {
    add(value) {
      if (length === values.length) {
        const bigger = new Float64Array(values.length * 2);
        bigger.set(values);
        values = bigger;
      }
      values[length++] = value;
    },
    figures(elapsedMs, failures) {
      const sorted = values.slice(0, length).sort();
      return {
        perSecond: (length / elapsedMs) * 1000,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        count: length,
        failures,
      };
    },
  };
}

/**
 * Runs `task` from `concurrency` loops at once in this process, first for
 * `warmupSeconds` (discarded), then for `seconds`: each loop starts its next
 * call as soon as its previous one settles, so exactly `concurrency` calls are
 * in flight. Latency is from the call to its settling, queueing included.
 */
export async function measureInProcess(
  task: () => Promise<boolean>,
  options: {
    readonly concurrency: number;
    readonly seconds: number;
    readonly warmupSeconds: number;
  },
): Promise<Figures> {
  async function run(seconds: number): Promise<Figures> {
    const samples = newSamples();
    let failures = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < deadline) {
          const begin = performance.now();
          let ok = false;
          try {
            ok = await task();
          } catch {
            ok = false;
          }
          if (ok) samples.add(performance.now() - begin);
          else failures++;
        }
      }),
    );
    const figures = samples.figures(performance.now() - started, failures);
    const cpu = process.cpuUsage(cpuBefore);
    return { ...figures, cpuMicros: (cpu.user + cpu.system) / Math.max(1, figures.count) };
  }
  if (options.warmupSeconds > 0) await run(options.warmupSeconds);
  return run(options.seconds);
}

/** Options of {@link measureHttp}. */
export interface HttpLoad {
  readonly url: string;
  readonly headers?: Record<string, string>;
  /** Connections kept open, one request in flight on each (no pipelining). */
  readonly connections: number;
  readonly seconds: number;
  /** Requests per second over all connections; default: as fast as answers come. */
  readonly overallRate?: number;
}

/**
 * Loads `url` with autocannon for `seconds`. Latencies are taken from
 * autocannon's per-response event (fractional milliseconds; its own
 * histogram keeps whole milliseconds only).
 */
export function measureHttp(load: HttpLoad): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const samples = newSamples();
    let failures = 0;
    let started = performance.now();
    const instance = autocannon(
      {
        url: load.url,
        headers: load.headers ?? {},
        connections: load.connections,
        pipelining: 1,
        duration: load.seconds,
        ...(load.overallRate === undefined ? {} : { overallRate: load.overallRate }),
      },
      (error) => {
        if (error) reject(error);
        else resolve(samples.figures(performance.now() - started, failures));
      },
    );
    instance.on("start", () => {
      started = performance.now();
    });
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) samples.add(responseTime);
      else failures++;
    });
    instance.on("reqError", () => {
      failures++;
    });
  });
}
