// Strings PostgreSQL cannot store as they were sent: U+0000 (text refuses it)
// and lone UTF-16 surrogates (not Unicode: jsonb refuses them, text stores
// U+FFFD, so two different strings would become one). Every string a client
// sends, in any field or key at any depth, is checked before it is used.

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

function problem (s: string): string | undefined {
  if (s.includes('\0')) return 'must not contain the character U+0000'
  const lone = LONE_SURROGATE.exec(s)
  if (lone !== null) return `must not contain a lone surrogate (U+${lone[0].charCodeAt(0).toString(16).toUpperCase()}): it is not valid Unicode`
  return undefined
}

/**
 * The first string (or key) that cannot be stored, as "<path> must not ...",
 * the path like `body/title`; undefined when all are fine. Iterative: any depth.
 */
export function invalidText (value: unknown, path: string): string | undefined {
  // Each entry names its parent entry and key; a path is built only for the
  // one string at fault, so deep nesting costs a step per value, not its depth.
  const stack: Node[] = [{ value, key: path, parent: undefined }]
  while (stack.length > 0) {
    const node = stack.pop()!
    const v = node.value
    if (typeof v === 'string') {
      const p = problem(v)
      if (p !== undefined) return `${pathOf(node)} ${p}`
    } else if (typeof v === 'object' && v !== null) {
      for (const [key, inner] of Object.entries(v)) {
        const p = problem(key)
        if (p !== undefined) return `${pathOf(node)} ${p}`
        stack.push({ value: inner, key, parent: node })
      }
    }
  }
  return undefined
}

interface Node { value: unknown, key: string, parent: Node | undefined }

function pathOf (node: Node): string {
  const keys: string[] = []
  for (let n: Node | undefined = node; n !== undefined; n = n.parent) keys.push(n.key)
  return keys.reverse().join('/')
}
