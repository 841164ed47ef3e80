"""The Meta-World tasks robovlms offers: the v3 environment, its expert, and instructions in words.

Only tasks whose scripted expert was measured to solve them are listed (20 episodes each: 100% for
all but door-open, 90%, and peg-insert-side, 95%). Reach, push and pick-place share one scene (a
puck and a goal), so their instructions are all that tells them apart; each phrasing says what
should happen, not which benchmark task it is.
"""

from __future__ import annotations

#: task -> instruction phrasings; an episode draws one by its seed
INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "reach": (
        "move the gripper to the goal",
        "reach for the target point with the hand",
        "bring the end effector to the goal and leave the puck alone",
        "put your hand on the target position",
    ),
    "push": (
        "push the puck to the goal",
        "slide the puck across the table to the target",
        "shove the puck over to the goal without lifting it",
        "nudge the puck along the table until it reaches the target",
    ),
    "pick-place": (
        "pick up the puck and place it at the goal",
        "grasp the puck, lift it and put it on the target",
        "take the puck and carry it to the goal",
        "lift the puck off the table and bring it to the target",
    ),
    "drawer-open": ("open the drawer", "pull the drawer out", "slide the drawer open by its handle"),
    "drawer-close": ("close the drawer", "push the drawer shut", "slide the drawer closed"),
    "button-press": ("press the button", "push the button in", "push the red button all the way"),
    "window-open": ("open the window", "slide the window open", "push the window sash to open it"),
    "door-open": ("open the door", "pull the door open by its handle", "swing the door open"),
    "assembly": ("put the ring on the peg", "fit the nut over the peg", "place the ring onto the peg"),
    "peg-insert-side": (
        "insert the peg into the hole",
        "push the peg sideways into the box's hole",
        "slide the peg into the hole in the box",
    ),
}


#: task -> its scripted expert's class in ``metaworld.policies``
EXPERTS: dict[str, str] = {
    "reach": "SawyerReachV3Policy",
    "push": "SawyerPushV3Policy",
    "pick-place": "SawyerPickPlaceV3Policy",
    "drawer-open": "SawyerDrawerOpenV3Policy",
    "drawer-close": "SawyerDrawerCloseV3Policy",
    "button-press": "SawyerButtonPressV3Policy",
    "window-open": "SawyerWindowOpenV3Policy",
    "door-open": "SawyerDoorOpenV3Policy",
    "assembly": "SawyerAssemblyV3Policy",
    "peg-insert-side": "SawyerPegInsertionSideV3Policy",
}


def environment_id(task: str) -> str:
    """The Meta-World v3 environment of ``task`` (``pick-place`` -> ``pick-place-v3``)."""
    return f"{task}-v3"
