/** A parsed YAML document that still knows which line each setting came from. */
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export class YamlSource {
  private constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  static parse(text: string): { source: YamlSource } | { error: string; line?: number } {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const first = doc.errors[0];
    if (first) return { error: first.message.split('\n')[0]!, line: first.linePos?.[0]?.line ?? (first.pos ? lines.linePos(first.pos[0]).line : undefined) };
    return { source: new YamlSource(doc, lines) };
  }

  toJS(): unknown {
    return this.doc.toJS() ?? {};
  }

  /** Line of the value at `path`, or of its nearest existing parent; for a key, the key's own line. */
  lineOf(path: readonly PropertyKey[], key?: string): number | undefined {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth) as unknown[], true) as Node | undefined;
      if (!node) continue;
      if (key !== undefined && depth === path.length && isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key);
        const keyNode = pair?.key as Node | undefined;
        if (keyNode?.range) return this.lines.linePos(keyNode.range[0]).line;
      }
      if (node.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  /** Paths of every key named `name` that holds a non-empty scalar (to find secrets). */
  findKeys(name: string): PropertyKey[][] {
    const found: PropertyKey[][] = [];
    const walk = (node: unknown, path: PropertyKey[]): void => {
      if (isMap(node)) {
        for (const pair of node.items) {
          const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
          if (key === undefined) continue;
          if (key === name && isScalar(pair.value) && pair.value.value !== '' && pair.value.value !== null) found.push([...path, key]);
          walk(pair.value, [...path, key]);
        }
      } else if (node && typeof node === 'object' && 'items' in node && Array.isArray((node as { items: unknown[] }).items)) {
        (node as { items: unknown[] }).items.forEach((item, index) => walk(item, [...path, index]));
      }
    };
    walk(this.doc.contents, []);
    return found;
  }
}
