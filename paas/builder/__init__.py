"""The Build stage: source tree in, runnable image in the registry out (buildpacks or Dockerfile)."""
