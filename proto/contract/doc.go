// Package contract checks, in its tests, that the generated API keeps the
// conventions the platform relies on (docs: ../shared/design/STYLE.md): every
// RPC has an HTTP rule and its own request and response, every RPC that is
// not a pure read takes an idempotency key, enum zero values are
// *_UNSPECIFIED, paging and time fields follow one shape, and the REST
// surface of the architecture routes to the RPCs it names. It has no code of
// its own; the checks are cheap and keep the contract honest as the service
// issues extend it.
package contract
