"""The generated program corpus behind ABD and DED: task id → family + parameters → program.

Nothing is downloaded: every program, input, statement and test comes from generators in this
package driven by the task's own `Stream`, so a corpus version is fixed by its code.
"""
