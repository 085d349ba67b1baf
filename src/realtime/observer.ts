// What the realtime path reports as it works (for metrics). The wiring calls
// it; the metrics plugin implements it; without metrics it does nothing.
import type { BrokerMessage } from './broker.js'
import type { EncodedEvent } from './events.js'

export interface RealtimeObserver {
  /** An ephemeral frame (presence, typing, read) was written to `sockets` sockets. */
  framePushed (type: string, sockets: number): void
  /** A conversation event was written to `sockets` sockets of this process. */
  eventPushed (event: EncodedEvent, sockets: number): void
  /** A broker message arrived; `publishedAt` is the publisher's clock (epoch ms). */
  brokerReceived (message: BrokerMessage): void
}

export const noopObserver: RealtimeObserver = {
  framePushed: () => {},
  eventPushed: () => {},
  brokerReceived: () => {}
}

/** Broker messages carry the time they were published, so receivers can measure the broker's lag. */
export type StampedBrokerMessage = BrokerMessage & { publishedAt?: number }

export const stamp = (message: BrokerMessage): BrokerMessage => ({ ...message, publishedAt: Date.now() }) as StampedBrokerMessage

export const publishedAt = (message: BrokerMessage): number | undefined => {
  const at = (message as StampedBrokerMessage).publishedAt
  return typeof at === 'number' ? at : undefined
}
