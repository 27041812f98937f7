/** Root of every error this package throws; catch this to catch them all. */
export class SignalsError extends Error {
  /**
   * @param {string} message
   * @param {{ cause?: unknown }} [options]
   */
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A message from the hub does not have the shape docs/protocol.md gives it. */
export class ProtocolError extends SignalsError {}

/** A JSON Patch could not be applied to the document it was meant for. */
export class PatchError extends SignalsError {}
