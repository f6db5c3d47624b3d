"""What the notebooks show: tables and figures (pandas, matplotlib) read through metadata/."""
