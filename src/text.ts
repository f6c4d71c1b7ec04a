// What free text Vigil stores: the one definition of the characters refused in it. PostgreSQL
// refuses NUL in text and jsonb; the rest are refused because they make a value display as
// something it is not (line breaks in a one-line name, lone surrogates, and the bidirectional
// overrides of "Trojan Source").

/** One line (names, titles, values): no control characters, line or paragraph separators, or direction overrides. */
export const LINE_UNSAFE = /[\p{Cc}\p{Cs}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u

/** Text of several lines (descriptions, definitions): tabs and line breaks, no other control characters. */
export const TEXT_UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\p{Cs}]/u

/** A note people read on an alert (comments, reasons): several lines, and no direction overrides either. */
export const NOTE_UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\p{Cs}\u202a-\u202e\u2066-\u2069]/u

/** A record field by its dotted path (`source.ip`, `user.name`): what fingerprints and suppressions name. */
export const FIELD_PATH = /^[A-Za-z0-9_@][A-Za-z0-9_.@-]{0,127}$/
