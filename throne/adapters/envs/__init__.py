"""`EnvService` adapters: throne's environments in-process, and environment services over HTTP."""
