// The group dialogs: making a group (its members named by username), and a
// group's members (add, remove, leave), as the caller's role allows.
import { ApiError, type Conversation, type SwitchboardClient, type User } from '../client/index.js'
import { $, h, show } from './dom.js'
import type { createState } from './state.js'
import { errorText } from './texts.js'

export interface GroupDialogDeps {
  sdk: SwitchboardClient
  state: ReturnType<typeof createState>
  me: () => User | undefined
  titleOf: (c: Conversation) => string
  openConversation: (id: string) => Promise<void>
  loadAllMembers: (id: string) => Promise<void>
  /** The open conversation's members changed. */
  afterChange: () => void
  /** The caller left the open group. */
  afterLeave: () => void
  /** Moves when the chat is left (logout): an answer that comes later changes nothing. */
  generation: () => number
}

export const formError = (err: unknown, context: string) => err instanceof ApiError ? errorText(err, context) : err instanceof Error ? err.message : errorText(err, context)

export function createGroupDialogs (deps: GroupDialogDeps) {
  const { sdk, state, me } = deps
  const myRole = (c: Conversation) => c.members.find((m) => m.user.id === me()?.id)?.role

  /** A user by exact username, or an error saying there is none. */
  async function userByName (raw: string) {
    const name = raw.trim().replace(/^@/, '').toLowerCase()
    const found = name.length < 3 ? undefined : (await sdk.users.search(name, 5)).users.find((u) => u.username === name)
    if (found === undefined) throw new Error(`No user named “${name}”.`)
    return found
  }

  function renderMembers (): void {
    const c = state.current()
    if (c === undefined) return
    const role = myRole(c)
    const manager = role === 'owner' || role === 'admin'
    $('member-list').replaceChildren(...c.members.map((m) => {
      const self = m.user.id === me()?.id
      const removable = manager && !self && m.role !== 'owner' && !(role === 'admin' && m.role === 'admin')
      const remove = removable ? h('button', { type: 'button', class: 'link', 'data-remove': m.user.id }, 'Remove') : null
      remove?.addEventListener('click', () => {
        const since = deps.generation()
        sdk.conversations.removeMember(c.id, m.user.id)
          .then(async () => {
            const now = await sdk.conversations.get(c.id)
            if (since !== deps.generation()) return
            state.conversations.set(c.id, now)
            renderMembers()
            deps.afterChange()
          })
          .catch((err: unknown) => { $('members-error').textContent = formError(err, 'Could not remove them.') })
      })
      return h('li', {}, h('span', { class: 'who' }, `${m.user.displayName}${self ? ' (you)' : ''} · @${m.user.username}`), h('span', { class: 'muted' }, m.role), remove)
    }))
    show($('add-member-form'), manager)
  }

  function wire (): void {
    const groupDialog = $('group-dialog') as HTMLDialogElement
    $('new-group').addEventListener('click', () => {
      $('group-error').textContent = ''
      groupDialog.showModal()
    })
    $('group-cancel').addEventListener('click', () => groupDialog.close())
    $('group-form').addEventListener('submit', (e) => {
      e.preventDefault()
      const title = ($('group-title') as HTMLInputElement).value.trim()
      const names = ($('group-members') as HTMLInputElement).value.split(',').map((n) => n.trim()).filter(Boolean)
      const since = deps.generation()
      void (async () => {
        const users = await Promise.all(names.map(userByName))
        const c = await sdk.conversations.createGroup(title, users.map((u) => u.id))
        if (since !== deps.generation()) return
        state.conversations.set(c.id, c)
        ;($('group-form') as HTMLFormElement).reset()
        groupDialog.close()
        await deps.openConversation(c.id)
      })().catch((err: unknown) => { $('group-error').textContent = formError(err, 'Could not create the group.') })
    })

    const membersDialog = $('members-dialog') as HTMLDialogElement
    $('members-button').addEventListener('click', () => {
      $('members-error').textContent = ''
      renderMembers()
      membersDialog.showModal()
      const id = state.currentId
      if (id !== undefined) void deps.loadAllMembers(id).then(renderMembers).catch(() => {})
    })
    $('members-close').addEventListener('click', () => membersDialog.close())
    $('add-member-form').addEventListener('submit', (e) => {
      e.preventDefault()
      const c = state.current()
      const input = $('add-member-username') as HTMLInputElement
      if (c === undefined) return
      const since = deps.generation()
      void (async () => {
        const user = await userByName(input.value)
        const now = await sdk.conversations.addMembers(c.id, [user.id])
        if (since !== deps.generation()) return
        state.conversations.set(c.id, now)
        input.value = ''
        $('members-error').textContent = ''
        renderMembers()
        deps.afterChange()
      })().catch((err: unknown) => { $('members-error').textContent = formError(err, 'Could not add them.') })
    })
    $('leave-group').addEventListener('click', () => {
      const c = state.current()
      const self = me()
      if (c === undefined || self === undefined || !confirm(`Leave “${deps.titleOf(c)}”?`)) return
      const since = deps.generation()
      sdk.conversations.removeMember(c.id, self.id).then(() => {
        if (since !== deps.generation()) return
        membersDialog.close()
        state.conversations.delete(c.id)
        deps.afterLeave()
      }).catch((err: unknown) => { $('members-error').textContent = formError(err, 'Could not leave the group.') })
    })
  }

  return { formError, userByName, renderMembers, wire }
}
