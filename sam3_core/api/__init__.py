"""The wire contract: request schema and validators, Hugging Face task formats, responses, video requests."""
