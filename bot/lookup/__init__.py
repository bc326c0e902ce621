"""Finding a person: the one way a connector is called (calls), the fan-out search
(search), which hits are one person (subjects), and one person's details in every
system (show). Reads only; every read is audited."""
