"""One module per feature, each registering the `storage.privacy.PersonalDataSource` of its tables. Every module
in this folder is imported by `storage.privacy.sources()`: a new feature adds a file here, nothing else."""
