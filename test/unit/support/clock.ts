/** A clock a test sets and moves: `now` is a bound function, so it can be handed over as `() => number`. */
export class FakeClock {
  constructor(public time: number) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}
