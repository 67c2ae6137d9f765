from crm_common.errors import Conflict, NotFound, ValidationFailed


class InvalidSegmentRule(ValidationFailed):
    type = "invalid-segment-rule"
    title = "Invalid segment rule"


class SegmentNotFound(NotFound):
    type = "segment-not-found"
    title = "Segment not found"


class SegmentNameTaken(Conflict):
    type = "segment-name-taken"
    title = "A segment with this name exists"


class SegmentInUse(Conflict):
    type = "segment-in-use"
    title = "Segment is referenced"
