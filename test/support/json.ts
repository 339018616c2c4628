// JSON answers and log lines of the system under test (RPC bodies, GetTask, JSON log lines): their shape
// is what the tests assert, with expect, so they are typed loosely on purpose — here, and only here.
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON whose shape the assertions check, not the compiler
export type Json = Record<string, any>;
