// Small DOM helpers. Text always goes in as text nodes: user content is
// never parsed as HTML.
export function $<T extends HTMLElement = HTMLElement> (id: string): T {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} missing`)
  return el as T
}

type Attrs = Record<string, string | boolean | undefined>

export function h (tag: string, attrs: Attrs = {}, ...children: Array<Node | string | null | undefined>): HTMLElement {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (key === 'class') el.className = String(value)
    else el.setAttribute(key, value === true ? '' : value)
  }
  for (const child of children) {
    if (child === null || child === undefined) continue
    el.append(typeof child === 'string' ? document.createTextNode(child) : child)
  }
  return el
}

export function show (el: HTMLElement, visible: boolean): void {
  el.hidden = !visible
}

export const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })

// http(s) links in a message: the rest of the text stays text. Trailing
// punctuation is left out of the link, as people write "see https://x.y."
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi
const TRAILING = /[.,;:!?)\]}'"]+$/

/** The text as nodes, with http(s) URLs as links that open in a new tab without access to this page. */
export function linkify (text: string): Array<Node | string> {
  const out: Array<Node | string> = []
  let at = 0
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = match[0].replace(TRAILING, '')
    const start = match.index
    if (start > at) out.push(text.slice(at, start))
    let safe: URL | undefined
    try { safe = new URL(url) } catch { safe = undefined }
    if (safe !== undefined && (safe.protocol === 'http:' || safe.protocol === 'https:')) {
      out.push(h('a', { href: safe.href, target: '_blank', rel: 'noopener noreferrer nofollow' }, url))
    } else {
      out.push(url)
    }
    at = start + url.length
  }
  if (at < text.length) out.push(text.slice(at))
  return out
}

/** "Today", "Yesterday", or the date, for the separators between days. */
export function dayLabel (iso: string, now = new Date()): string {
  const d = new Date(iso)
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime()
  const diff = Math.round((day(now) - day(d)) / 86_400_000)
  if (diff === 0) return 'Today'
  if (diff === 1) return 'Yesterday'
  return d.toLocaleDateString([], { weekday: diff < 7 ? 'long' : undefined, day: 'numeric', month: 'long', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' })
}

export const dayKey = (iso: string) => new Date(iso).toDateString()
