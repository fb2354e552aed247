import { FnPinnerError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import type { HttpRequest, HttpResponse, RoundTripper } from './types.js';

/**
 * Counts every attempt in fn_pinner_registry_requests_total and spends the review's request budget on it
 * (before sending, so an exhausted budget sends nothing). `label` maps a host to the metrics label: the
 * host for registries named in the configuration, `other` for the rest, so pods cannot mint series.
 */
export class CountingTransport implements RoundTripper {
  constructor(
    private readonly inner: RoundTripper,
    private readonly metrics: Metrics,
    private readonly label: (host: string) => string,
  ) {}

  async send(req: HttpRequest): Promise<HttpResponse> {
    req.budget?.take(req.what);
    const labels = { registry: this.label(new URL(req.url).host), kind: req.kind, method: req.method };
    try {
      const res = await this.inner.send(req);
      this.metrics.registryRequests.inc({ ...labels, status: String(res.status) });
      return res;
    } catch (err) {
      const status = err instanceof FnPinnerError ? err.code : 'ERROR';
      this.metrics.registryRequests.inc({ ...labels, status });
      throw err;
    }
  }
}
