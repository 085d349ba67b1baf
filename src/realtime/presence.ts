// Presence: who is online. This process's view; implementations behind the
// interface may share it across processes.
export interface Presence {
  isOnline (userId: string): boolean
}

/** Presence of a single process: online while a user has a connection here. */
export class MemoryPresence implements Presence {
  private readonly connections = new Map<string, number>()

  isOnline (userId: string): boolean {
    return (this.connections.get(userId) ?? 0) > 0
  }
}
