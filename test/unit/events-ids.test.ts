import { isValid } from 'ulid';
import { newEventId } from '../../lambdas/events/domain/events';

describe('newEventId', () => {
  it('makes valid, unique ULIDs that sort by time, many per millisecond and across the random pool', () => {
    // Prepare
    const now = Date.UTC(2026, 0, 1);

    // Act: 3,000 ids take several refills of the pooled randomness.
    const ids = Array.from({ length: 3_000 }, (_, index) => newEventId(now + Math.floor(index / 10)));

    // Assess
    expect(ids.every((id) => id.startsWith('evt_') && isValid(id.slice(4)))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('spreads the random part over the whole alphabet', () => {
    // Prepare
    const randomParts = Array.from({ length: 2_000 }, (_, index) =>
      newEventId(1_000_000 + index * 7).slice(-16),
    );

    // Act
    const characters = new Set(randomParts.join(''));

    // Assess: Crockford's base32 has 32 characters; 32,000 draws miss none of them.
    expect(characters.size).toBe(32);
  });
});
