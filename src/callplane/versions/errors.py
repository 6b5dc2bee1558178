from __future__ import annotations

from callplane.errors import BadRequest, Conflict, NotFound


class VersionNotFound(NotFound):
    code = "version_not_found"
    default_detail = "Version not found."


class VersionPublished(BadRequest):
    code = "version_published"
    default_detail = (
        "This version is published and its config is immutable; create a new version "
        "(optionally with base_version) to make changes."
    )


class PublishedVersionUndeletable(Conflict):
    code = "version_published"
    default_detail = "Published versions are history and cannot be deleted."


class InstructionsGenerating(Conflict):
    code = "instructions_generating"
    default_detail = (
        "Instructions are being generated for this version; wait for the generation to finish."
    )


class InstructionsStale(Conflict):
    code = "instructions_stale"
    default_detail = (
        "The instructions are stale: the builder inputs changed since they were generated and "
        "they were not edited by hand. Regenerate them (generate-instructions) or edit "
        "config.instructions, then publish."
    )


class NoBuilderInputs(BadRequest):
    code = "no_instruction_builder_inputs"
    default_detail = (
        "This version has no instruction_builder_inputs; set them (PUT the version) before "
        "generating instructions."
    )
