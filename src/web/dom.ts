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
