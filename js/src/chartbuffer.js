// A growable Float64Array whose front can be dropped: the chart's copy of one
// series. Appends and drops cost the change (amortized), never the length; a
// gap (JSON null) is stored as NaN, which JSON itself cannot carry.

const MIN_CAPACITY = 1024;

export class Column {
  #data = new Float64Array(MIN_CAPACITY);
  #start = 0;
  #end = 0;

  get length() {
    return this.#end - this.#start;
  }

  /** The items, without a copy (valid until the next push). */
  view() {
    return this.#data.subarray(this.#start, this.#end);
  }

  /**
   * Append `values[from .. to)`; null becomes NaN.
   * @param {ArrayLike<number | null>} values
   * @param {number} from
   * @param {number} to
   */
  push(values, from, to) {
    this.#reserve(to - from);
    const data = this.#data;
    let end = this.#end;
    for (let i = from; i < to; i++) {
      const v = values[i];
      data[end++] = v === null ? NaN : v;
    }
    this.#end = end;
  }

  /**
   * Append `count` indices: start, start + 1, ... (x "" is the index).
   * @param {number} start
   * @param {number} count
   */
  pushIndices(start, count) {
    this.#reserve(count);
    for (let i = 0; i < count; i++) this.#data[this.#end++] = start + i;
  }

  /** @param {number} count items to drop from the front */
  drop(count) {
    this.#start += Math.min(count, this.length);
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  clear() {
    this.#start = this.#end = 0;
  }

  /** @param {number} count room for this many more items at the end */
  #reserve(count) {
    if (this.#end + count <= this.#data.length) return;
    const length = this.length;
    // Slide to the front while at most half is in use (then at least half the
    // capacity was appended or dropped since the last move: amortized O(1)),
    // else double.
    if (length + count <= this.#data.length / 2) {
      this.#data.copyWithin(0, this.#start, this.#end);
    } else {
      const grown = new Float64Array(Math.max(2 * this.#data.length, 2 * (length + count)));
      grown.set(this.view());
      this.#data = grown;
    }
    this.#start = 0;
    this.#end = length;
  }
}
