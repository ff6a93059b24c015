"""Acquisition of published datasets: resumable hashed downloads (``fetch``), archive and
folder reading with one worker pool (``archives``), Google Drive links (``gdrive``),
published file counts (``counts``) and the generic archive-benchmark builder (``benchmark``)."""
