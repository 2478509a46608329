"""One module per feature, each registering the `storage.domain.privacy.PersonalDataSource` of its tables. Every module
in this folder is imported by `storage.domain.privacy.sources()`: a new feature adds a file here, nothing else."""
