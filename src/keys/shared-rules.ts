/*
 * A rule made from a list (a key's model globs, its networks) once for each distinct list, and
 * shared by every key that names the same one. A team's keys usually do: 1,000 keys each with its
 * own compiled matcher for the same two globs held 19 MB more resident memory than one matcher
 * (4 KB a matcher on the JavaScript heap, the rest outside it), for a collector to trace and a
 * cache to miss (BENCHMARKS.md, issue 20).
 */

/** Distinct lists kept; past this many (keys changed over and over), the table starts again. */
const LISTS_MAX = 10_000;

export class SharedRules<Owner extends object, Rule> {
  private readonly byList = new Map<string, Rule>();
  /** Each owner's rule, found without reading its list again: a key's record asks on every request. */
  private readonly byOwner = new WeakMap<Owner, Rule>();

  constructor(
    private readonly make: (list: readonly string[]) => Rule,
    private readonly listsMax = LISTS_MAX,
  ) {}

  of(owner: Owner, list: readonly string[]): Rule {
    let rule = this.byOwner.get(owner);
    if (rule) return rule;
    const key = JSON.stringify(list);
    rule = this.byList.get(key);
    if (!rule) {
      // An owner already judged keeps its rule; only lists not seen since are made again.
      if (this.byList.size >= this.listsMax) this.byList.clear();
      rule = this.make(list);
      this.byList.set(key, rule);
    }
    this.byOwner.set(owner, rule);
    return rule;
  }
}
