/**
 * Why Vigil refuses a Sigma document, and where: `path` is the dotted place in the document
 * (`rules[2].detection.selection.CommandLine|re`), so a rule author finds the line to fix.
 */
export class SigmaError extends Error {
  constructor(
    readonly path: string,
    message: string
  ) {
    super(message)
    this.name = 'SigmaError'
  }
}
