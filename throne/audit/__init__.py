"""The portable, verifiable audit trail: export the log with signed hash links; verify it.

- the export's format: :mod:`~throne.audit.format` (layout and versions),
  :mod:`~throne.audit.records` (header, event line, checkpoint, end record: one parse and one
  dump each), :mod:`~throne.audit.links` (the hash links and where they stand);
- writing one: :mod:`~throne.audit.writer`, from a database :mod:`~throne.audit.log_export`,
  in place :mod:`~throne.audit.append`;
- reading one: :mod:`~throne.audit.sources` (file, standard input, database),
  :mod:`~throne.audit.reader` (the one reader of an export's bytes),
  :mod:`~throne.audit.stored` (stored events to exported ones, and back),
  :mod:`~throne.audit.load` (into a database);
- verifying: :func:`throne.audit.verification.verify` (the service), which reads an export
  through :mod:`~throne.audit.verifier` (with :mod:`~throne.audit.order`,
  :mod:`~throne.audit.signed_records` and :mod:`~throne.audit.damage`), in one pass or in
  :mod:`~throne.audit.spans`, into :mod:`~throne.audit.replay`; then
  :mod:`~throne.audit.rescore` and :mod:`~throne.audit.onchain`; it returns a
  :mod:`~throne.audit.report`;
- publishing it (docs/publish.md): :mod:`~throne.audit.published` (the parts and the index),
  :mod:`~throne.audit.parts` (one part verified on its own),
  :func:`throne.audit.publisher.publish`, and
  :func:`throne.audit.incremental.verify_published` with its
  :mod:`~throne.audit.verified_state`.
"""
