"""Amazon Web Services: one session factory for every boto3 call yamori makes."""
