// A tiny typed event emitter that runs anywhere (no node:events). A throwing
// listener does not stop the others; its error goes to the 'error' listeners.
export type Listener<A extends unknown[]> = (...args: A) => void

export class Emitter<E extends { [K in keyof E]: unknown[] }> {
  private listeners: { [K in keyof E]?: Array<Listener<E[K]>> } = {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E> (event: K, listener: Listener<E[K]>): () => void {
    this.listeners[event] = [...(this.listeners[event] ?? []), listener]
    return () => this.off(event, listener)
  }

  off<K extends keyof E> (event: K, listener: Listener<E[K]>): void {
    this.listeners[event] = (this.listeners[event] ?? []).filter((l) => l !== listener)
  }

  protected emit<K extends keyof E> (event: K, ...args: E[K]): void {
    for (const listener of this.listeners[event] ?? []) {
      try {
        listener(...args)
      } catch (err) {
        if (event === 'error') throw err
        this.emit('error' as K, ...([err] as unknown as E[K]))
      }
    }
  }
}
