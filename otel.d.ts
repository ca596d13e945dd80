// Types of `resilis/otel` (needs the optional peer dependency @opentelemetry/api).
import type { TracerProvider, MeterProvider } from '@opentelemetry/api';

export interface InstrumentOptions {
  /** Default: the global tracer provider. */
  tracerProvider?: TracerProvider;
  /** Default: the global meter provider. */
  meterProvider?: MeterProvider;
}

/** Spans (database client semantic conventions) and the db.client.operation.duration histogram
 * from resilis' tracing channels `resilis:command` and `resilis:batch`; a `connect` span per
 * connection attempt on `resilis:connect`. */
export function instrument(options?: InstrumentOptions): { disable(): void };
