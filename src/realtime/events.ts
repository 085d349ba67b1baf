// An event on its way to the sockets. The events themselves and the publisher
// port belong to the domain (domain/events.ts); this is the realtime layer's
// own form of one.
import type { ChatEventType } from '../domain/events.js'

/** An event as it travels to the sockets: its frame encoded once for every socket of every process, with what metrics need. */
export interface EncodedEvent { seq: number, type: ChatEventType, /** createdAt, epoch ms */ at: number, frame: string }
