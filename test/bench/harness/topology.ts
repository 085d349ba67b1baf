// Who talks to whom in the fan-out scenarios, shared (as a JSON file) by the
// orchestrator, the load generator and the bare ws baseline, so that both
// servers push the same frames to the same sockets.
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import type { BenchUser, Seeder } from './seed.js'

export interface FanoutTopology {
  users: Array<{ id: string, token: string }>
  /** The group: user indexes. */
  group: { id: string, members: number[] }
  directs: Array<{ id: string, members: number[] }>
  /** Index into `directs` of each user's direct conversation. */
  directOf: number[]
}

export const GROUP_SIZE = 100

/**
 * `receivers` users with one socket each; users 0..99 form the group; user i
 * and user i + receivers/2 share a direct conversation. Usernames start with
 * `prefix`: one database can hold several topologies of their own.
 */
export async function seedFanout (seeder: Seeder, receivers: number, prefix = 'f'): Promise<{ topology: FanoutTopology, users: BenchUser[] }> {
  const users = await seeder.users(receivers, prefix)
  const groupSize = Math.min(GROUP_SIZE, receivers)
  const group = await seeder.group(users, Array.from({ length: groupSize }, (_, i) => i))
  const half = Math.floor(receivers / 2)
  const directs = await seeder.directs(users, Array.from({ length: half }, (_, i): [number, number] => [i, i + half]))
  const topology: FanoutTopology = {
    users: users.map((u) => ({ id: u.id, token: u.token })),
    group: { id: group.id, members: group.memberIndexes },
    directs: directs.map((d) => ({ id: d.id, members: d.memberIndexes })),
    directOf: users.map((_, i) => Math.min(i % half, directs.length - 1))
  }
  return { topology, users }
}

export async function writeTopology (path: string, topology: FanoutTopology): Promise<void> {
  await writeFile(path, JSON.stringify(topology))
}

export const readTopology = (path: string): FanoutTopology => JSON.parse(readFileSync(path, 'utf8')) as FanoutTopology

/**
 * The n-th post of a run: even ones go to the group (from its members in
 * turn), odd ones to a direct conversation (from every user in turn).
 */
export function nthPost (t: FanoutTopology, n: number): { conversationId: string, sender: number } {
  const k = n >> 1
  if ((n & 1) === 0) return { conversationId: t.group.id, sender: t.group.members[k % t.group.members.length]! }
  const sender = k % t.users.length
  return { conversationId: t.directs[t.directOf[sender]!]!.id, sender }
}
